//! A custom harness (`harness = false`) that does not speak any protocol: it ignores its
//! arguments, checks things and exits. It runs as one case.

fn main() {
    assert_eq!(beta::double(21), 42);
    println!("plain harness: 1 check ok");
}
