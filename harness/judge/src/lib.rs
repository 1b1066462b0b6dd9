//! Online-judge front end (see issue: hatchery judge).
