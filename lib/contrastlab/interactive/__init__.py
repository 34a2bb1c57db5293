"""The interactive layer: plotly figures (``figures``), 2-D projections (``projection``) and the live
widget apps (``widgets``). It reads the core (losses, metrics, data, set-ups, ``fit``) and is read by
the sweep tool's report and the lessons; the core never imports it."""
