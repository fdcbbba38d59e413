from tests.tools.conftest import settings  # noqa: F401 - the shop plugin folder, approvals swept every second
