"""What the dashboard's pages show, as plain data and Plotly figures: run views, study views,
dataset views, run details, the user's journey, the wizard's inputs, charts. No Streamlit here: the
pages read widgets, call one function of this package or below, and draw what it returns.

May import: every core package below it (base, `data`, `training`, `runs`, `results`, `advice`, `study`).
"""
