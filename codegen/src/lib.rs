//! Spec pipeline.
