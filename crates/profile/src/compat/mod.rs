//! Readers for the values users already have: the CoCo umbrella chart's files
//! (`kata-as-coco-runtime.*`, `architecture`, `customContainerd.*`) and kata-deploy 3.x's flat
//! `env.*` keys. Each layer is translated on its own, before merging, so Helm precedence
//! between layers is kept.

mod coco_chart;

pub use coco_chart::translate;
