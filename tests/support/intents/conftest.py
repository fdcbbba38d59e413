from __future__ import annotations

import pytest

from loopdesk.support.intents import IntentModel
from tests.support.intents.examples import examples


@pytest.fixture(scope="session")
def intent_model() -> IntentModel:
    """One model trained on the bilingual set, shared: embedding it takes a second or two."""
    return IntentModel.train(examples())
