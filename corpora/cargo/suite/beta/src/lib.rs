//! Fixture for `cargo hatchery test`: many quick passing tests (partitioning, scheduling,
//! the target-runner route).

pub fn double(x: u32) -> u32 {
    x * 2
}

#[cfg(test)]
mod quick {
    macro_rules! quick {
        ($($name:ident = $n:expr),* $(,)?) => {
            $(
                #[test]
                fn $name() {
                    assert_eq!(super::double($n), $n + $n);
                }
            )*
        };
    }
    quick!(
        t00 = 0,
        t01 = 1,
        t02 = 2,
        t03 = 3,
        t04 = 4,
        t05 = 5,
        t06 = 6,
        t07 = 7,
        t08 = 8,
        t09 = 9,
        t10 = 10,
        t11 = 11,
        t12 = 12,
        t13 = 13,
        t14 = 14,
        t15 = 15,
    );

    #[test]
    #[ignore]
    fn ignored() {}
}
