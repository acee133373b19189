"""The loader's normalisations of what other tools write into stack files."""
import pytest
import yaml

from tunestack import stackfile
from tunestack.errors import StackError


@pytest.mark.parametrize("written,weight", [("50", 50), (50, 50), ("0", 0)])
def test_canary_weight_as_pulumi_writes_it(tmp_path, written, weight):
    """Issue #12: `pulumi config set tunestack:canaryWeight 50` stores the string "50"; the stack
    file must stay valid after a rollout step wrote it."""
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:canaryWeight"] = written
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert stackfile.load(path).rollout.canary_weight == weight


def test_canary_weight_text_that_is_not_a_number_is_refused(tmp_path):
    doc = yaml.safe_load(stackfile.stack_path("dev").read_text())
    doc["config"]["tunestack:canaryWeight"] = "half"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(StackError) as err:
        stackfile.load(path)
    assert "tunestack:canaryWeight" in str(err.value) and "half" in str(err.value)
