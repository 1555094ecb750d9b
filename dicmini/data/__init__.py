"""Face data: synthetic faces with exact landmarks, the 68-point layout and heatmaps, the x8 degradation,
and torch datasets (paper §4.1 "Datasets"; docs/reference_implementations.md,
Component maps and Data and degradation)."""
