//! The engine settings of a judging run, shared by `hatchery judge` and `hatchery serve`'s
//! `/judge`: who cases run as, where they may write, what submissions may not see.

use hatchery_engine::ExecSettings;

use crate::judge::Judge;
use crate::lang::LanguageTable;
use crate::problem::Problem;
use hatchery_sandbox::workdir::WorkDir;

/// Completes `settings` for judging `problem` in `work` with the languages of `langs`:
/// - the work directory lends build and feedback directories (and FIFOs) to one uid before
///   a worker is chosen, and the cases that use them run as that uid (SECURITY.md: what
///   stays shared); a submission's plain runs, which use none, as their worker's own;
/// - cases write in the directories lent to them in the work tree, and nowhere else outside
///   their scratch;
/// - compilers and interpreters are shown where the case uid could not reach them
///   (`~/.cargo`, pyenv);
/// - submissions and their compilers run in a private view without the package and the
///   private part of the work tree (answers, copies of test data, validator feedback);
///   validators see the package.
///
/// What the caller showed or hid in `settings.view` before is in both views.
pub fn prepare_settings(
    settings: &mut ExecSettings,
    problem: &Problem,
    work: &WorkDir,
    langs: &LanguageTable,
) {
    settings.shared_ids = work.case_ids();
    settings.view.allow_write(work.path());
    for l in langs.languages() {
        for cmd in l.compile.iter().chain(std::iter::once(&l.run)) {
            if let Some(first) = cmd.first().filter(|w| !w.starts_with('{')) {
                settings.view.show_command(first.as_ref(), &problem.dir);
            }
        }
    }
    let mut private = settings.view.clone();
    for p in Judge::private_paths(problem, work) {
        private.hide(&p);
    }
    settings.private_view = Some(private);
    settings.view.show(&problem.dir);
}
