//! The library half of the `hatchery` binary: what its front end parses, public so that the
//! fuzz targets (`fuzz/`) reach the same code the binary runs.

pub mod jobs;
pub mod outfiles;
