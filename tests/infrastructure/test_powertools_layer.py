"""Product: the Powertools layer every function deploys with is the release the handlers are
tested with (issue 21, defect 12), pinned once, in ``runtimes/lambda-python/requirements.txt``.

Powertools numbers its layer versions per publication (x86_64 layer 27 is release 3.23.0,
aws-powertools/powertools-lambda-python#7689), so a hand-kept layer number drifts silently;
the stacks read the layer ARN at deploy from Powertools' public parameter of the pinned release.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

from mdlc.contract import REPO_ROOT
from mdlc.runtimes import lambda_runtime
from stacks.common.lambda_function import POWERTOOLS_VERSION, pinned_version

PACKAGE = "aws-lambda-powertools"


def test_the_pin_is_the_same_release_everywhere_the_handlers_run():
    """The Lambda runtime's virtualenv (handler unit tests on 3.13) and the CDK virtualenv (the
    offline workflows) install the release the layer is read for; a drift in either file fails."""
    assert pinned_version(PACKAGE, lambda_runtime().requirements[0]) == POWERTOOLS_VERSION
    assert pinned_version(PACKAGE, REPO_ROOT / "requirements.txt") == POWERTOOLS_VERSION, (
        "requirements.txt and runtimes/lambda-python/requirements.txt pin different Powertools releases")
    assert version(PACKAGE) == POWERTOOLS_VERSION, "the installed Powertools is not the pinned release: make install"


def test_a_missing_pin_is_named(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("boto3==1.0\naws-lambda-powertools>=3\n")
    with pytest.raises(ValueError, match=r"requirements.txt: no `aws-lambda-powertools==<version>` pin"):
        pinned_version(PACKAGE, requirements)


def test_every_function_deploys_the_layer_of_the_pinned_release(assembly):
    parameter = f"/aws/service/powertools/python/x86_64/python{lambda_runtime().python}/{POWERTOOLS_VERSION}"
    functions = 0
    for name, template in assembly.templates.items():
        parameters = template.get("Parameters") or {}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function" or "mdlc:source" not in (resource.get("Metadata") or {}):
                continue
            functions += 1
            [layer] = resource["Properties"]["Layers"]
            assert set(layer) == {"Ref"}, f"{name}/{logical_id}: layer {layer} is not the release's parameter"
            declared = parameters[layer["Ref"]]
            assert (declared["Type"], declared["Default"]) == ("AWS::SSM::Parameter::Value<String>", parameter), (
                f"{name}/{logical_id}: layer parameter {declared}")
    assert functions > 20  # every project function of every team
