"""The offline renderers of the default datasets: the official factor grids, drawn on demand and cached."""
