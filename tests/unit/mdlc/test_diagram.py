"""`mdlc diagram`: any ASL → Graphviz with Retry/Catch/Choice labelled, rendered to SVG and PNG."""

from __future__ import annotations

from mdlc.diagram import render, state_machines, to_dot

# A small machine as CDK synthesises it: the definition is an Fn::Join with a token.
TEMPLATE = {"Resources": {"Flow": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
    "StateMachineName": "demo-training",
    "DefinitionString": {"Fn::Join": ["", [
        '{"StartAt":"Train","States":{"Train":{"Type":"Task","Resource":"arn:aws:states:::sagemaker:createTrainingJob.sync",'
        '"Parameters":{"RoleArn":"', {"Fn::GetAtt": ["Role", "Arn"]}, '"},'
        '"Retry":[{"ErrorEquals":["SageMaker.ThrottlingException"],"MaxAttempts":5}],'
        '"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Notify"}],"Next":"Good?"},'
        '"Good?":{"Type":"Choice","Choices":[{"Variable":"$.gate.passed","BooleanEquals":true,"Next":"Score"}],"Default":"Notify"},'
        '"Score":{"Type":"Map","ItemsPath":"$.shards","ItemProcessor":{"StartAt":"ScoreShard","States":{'
        '"ScoreShard":{"Type":"Task","Resource":"', {"Fn::GetAtt": ["ScoreFn", "Arn"]},
        '","End":true}}},"Next":"Done"},'
        '"Done":{"Type":"Succeed"},'
        '"Notify":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","Parameters":{"TopicArn":"',
        {"Ref": "Topic"}, '"},"Next":"Failed"},'
        '"Failed":{"Type":"Fail","Error":"TrainingFailed"}}}',
    ]]},
}}}}


def test_tokens_become_placeholders_and_the_definition_is_read():
    (name, asl), = state_machines(TEMPLATE).items()
    assert name == "demo-training"
    assert asl["States"]["Train"]["Parameters"]["RoleArn"] == "${Role.Arn}"
    assert asl["States"]["Notify"]["Parameters"]["TopicArn"] == "${Topic}"


def test_retry_catch_and_choice_edges_are_drawn_with_their_labels():
    dot = to_dot(state_machines(TEMPLATE)["demo-training"], "demo-training")
    assert '"Train" -> "Train" [label="Retry x5:\\nSageMaker.ThrottlingException" style=dashed' in dot
    assert '"Train" -> "Notify" [label="Catch:\\nStates.ALL" style=dashed color="#dc2626"' in dot
    assert '"Good?" -> "Score" [label="gate.passed == true"]' in dot
    assert '"Good?" -> "Notify" [label="Default"]' in dot
    assert 'subgraph "cluster_Score"' in dot and '"Score/ScoreShard"' in dot


def test_svg_and_png_are_produced_with_the_retry_and_catch_labels(tmp_path):
    dot = to_dot(state_machines(TEMPLATE)["demo-training"], "demo-training")
    files = render([(dot, tmp_path / "demo-training")])
    svg, png = tmp_path / "demo-training.svg", tmp_path / "demo-training.png"
    assert files == [svg, png]
    text = svg.read_text()
    assert "Retry x5:" in text and "SageMaker.ThrottlingException" in text
    assert "Catch:" in text and "States.ALL" in text and "gate.passed == true" in text
    assert 'stroke-dasharray' in text  # Retry/Catch edges are dashed, Next edges are not
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000

