//! The hand-written client layer.
