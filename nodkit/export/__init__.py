"""Export wing: the pipeline (fetch → validate → render → encrypt → binders →
seal → publish → prune) and `sources check`, which predicts it.

Rules: only a good set becomes LATEST; nothing is pruned after a bad run.
May import every lower wing: base modules, `security`, `store`, `sources`,
`config`, `lists`, `render`.
"""
