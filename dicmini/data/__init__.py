"""Face data: synthetic faces with exact landmarks, the 68-point layout and heatmaps, the x8 degradation,
and torch datasets (paper §4.1 "Datasets"; reference spec §2.9, §4.1)."""
