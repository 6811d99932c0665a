//! What is specific to kata-deploy 4.1.0 on the values side: its chart defaults.

pub mod defaults;
