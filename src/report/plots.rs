//! SVG plots drawn with plotters (being written).
