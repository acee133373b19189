"""pulumi_config: a stack file as Pulumi's runtime config (every value a string, objects as JSON, as
`pulumi config` stores them) and back, with secrets never read."""
import json

import yaml

from tunestack.paths import ROOT
from tunestack.pulumi_config import runtime_config, stack_document
from tunestack.stackfile import load_document


class Config:
    """What pulumi.Config("tunestack") answers for a runtime config: get() and get_object()."""

    def __init__(self, values):
        self.values = {k.split(":", 1)[1]: v for k, v in values.items()}

    def get(self, key):
        return self.values.get(key)

    def get_object(self, key):
        value = self.values.get(key)
        if value is None:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value


def test_values_become_strings_as_pulumi_stores_them():
    values, secret = runtime_config({"config": {"tunestack:canaryWeight": 50, "tunestack:flag": True,
                                                "tunestack:hosts": [{"name": "a"}]}})
    assert values == {"tunestack:canaryWeight": "50", "tunestack:flag": "true",
                      "tunestack:hosts": '[{"name": "a"}]'}
    assert secret == []


def test_secrets_are_placeholders_under_mocks_and_absent_otherwise():
    doc = {"config": {"tunestack:dbPassword": {"secure": "AAABAK…"}}}
    assert runtime_config(doc) == ({"tunestack:dbPassword": "mock-secret-dbPassword"}, ["tunestack:dbPassword"])
    assert runtime_config(doc, fake_secrets=False) == ({}, [])


def test_a_stack_file_survives_the_round_trip_and_still_validates():
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    values, _ = runtime_config(doc)
    back = stack_document(Config(values))
    spec = load_document(back, "stacks/Pulumi.prod.yaml", "prod")
    original = load_document(doc, "stacks/Pulumi.prod.yaml", "prod")
    assert spec.hosts == original.hosts and spec.postgres == original.postgres and spec.app == original.app


def test_a_secret_is_validated_for_its_shape_never_read():
    back = stack_document(Config({"tunestack:dbPassword": "hunter2"}))
    assert back["config"]["tunestack:dbPassword"] == {"secure": "(set)"}
