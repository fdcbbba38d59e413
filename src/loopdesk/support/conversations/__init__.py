"""The support conversation record: one analytics event stream written in the same transaction as what it
records, the per-thread conversation row it keeps up to date, replay, the conversations list, analytics and
the quiet-period sweep that settles each conversation's resolution."""
