from loopdesk.cli import app

app(prog_name="loopdesk")
