"""Log template mining: `TemplateMiner` learns message templates from a stream in bounded memory."""

from loopdesk.triage.logs.templates import Match, TemplateInfo, TemplateMiner, mine

__all__ = ["Match", "TemplateInfo", "TemplateMiner", "mine"]
