//! The baseline: an engine that keeps nothing, as `--durability none`
//! does. Its CPU per entry is the generator's and the driver's own, to
//! subtract from every other row.

use super::{workload::Round, Engine, EngineError};

pub struct Nothing;

impl Engine for Nothing {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        std::hint::black_box(round);
        Ok(())
    }
}
