"""The interop matrix: fixed scenarios run over every pair (and triple) of implementations.

`scenario` says what a scenario is and records its steps, `scenarios` holds the built-in
ones (`onchain` reads their closes on the chain), `catalog` adds those other packages
register; `plan` chooses the cells, `cell` runs one in its own process, `runner` runs
them in parallel (`progress` tells the terminal); `report` is the result and
`matrix.json`, `layout` arranges it as grids, `render_md` and `render_html` draw them;
`command` is `lnharness matrix`.
"""
