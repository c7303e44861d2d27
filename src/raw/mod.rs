//! Raw clients generated from `specs/`.
