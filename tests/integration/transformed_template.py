"""template.yaml as CloudFormation receives it: expanded by the SAM translator, offline (as ``sam validate`` does).

Used by the IAM policy tests and by ``make checkov``, which scans what is really deployed rather than the SAM
shorthand: ``python -m tests.integration.transformed_template OUT.json [Parameter=Default ...]``. The translator
keeps conditions, and checkov evaluates them with the parameters' defaults, so a conditional resource is scanned
only in a template whose defaults turn it on: hence the optional new defaults.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from simulation.eventbridge import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PSEUDO = {
    "AWS::StackName": "mirror-prod",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
}
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/mirror-prod/6d4f4e2a-0000-0000-0000-000000000000"
STACK_FILTER = "tmf-0stackfilter00000"  # what !Ref MirrorFilter stands for in resolved values


class _NoManagedPolicies:
    """The translator's managed-policy loader, offline: the template names managed policies by ARN only."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(
    template_path: Path = TEMPLATE, pseudo: Mapping[str, str] = PSEUDO, defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The translated template, with ``defaults`` as the new Default of those parameters. Local code paths become S3
    URIs (``sam package`` does that before deploying)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", pseudo["AWS::Region"])  # the translator asks boto3 for a Region
    template = load_template(template_path)
    for name, value in (defaults or {}).items():
        if name not in template["Parameters"]:
            raise ValueError(f"{template_path} declares no parameter {name}")
        template["Parameters"][name]["Default"] = value
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    result: dict[str, Any] = transform(template, dict(pseudo), _NoManagedPolicies())
    return result


class Resolver:
    """Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Split, Fn::If and the Conditions, with one set of parameter values.
    Resources become ``arn:resource:<logical id>`` (GetAtt) or ``ref:<logical id>`` (Ref); MirrorFilter a filter ID."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        unknown = set(overrides) - set(template["Parameters"])
        assert not unknown, f"not parameters of the template: {unknown}"
        self.template = template
        self.values: dict[str, Any] = dict(PSEUDO, **{"AWS::StackId": STACK_ID, "AWS::NoValue": None})
        for name, spec in template["Parameters"].items():
            raw = str(overrides.get(name, spec.get("Default", "")))
            self.values[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    def condition(self, name: str) -> bool:
        return self._holds(self.template["Conditions"][name])

    def _holds(self, node: Any) -> bool:
        [(function, argument)] = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._holds(argument[0])
        if function == "Fn::And":
            return all(self._holds(item) for item in argument)
        if function == "Fn::Or":
            return any(self._holds(item) for item in argument)
        raise AssertionError(f"condition function {function} is not modelled here")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.resolve(i) for i in node) if item is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(function, argument)] = node.items()
            if function == "Ref":
                if argument in self.values:
                    return self.values[argument]
                return STACK_FILTER if argument == "MirrorFilter" else f"ref:{argument}"
            if function == "Fn::GetAtt":
                return f"arn:resource:{argument[0]}"
            if function == "Fn::Sub":
                return self._sub(argument)
            if function == "Fn::Join":
                separator, items = argument
                return str(separator).join(self._strings(self.resolve(items)))
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if function == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
        return {key: value for key, value in ((k, self.resolve(v)) for k, v in node.items()) if value is not None}

    @staticmethod
    def _strings(items: Any) -> list[str]:
        flat: list[str] = []
        for item in items if isinstance(items, list) else [items]:
            flat.extend(str(i) for i in (item if isinstance(item, list) else [item]))
        return flat

    def _sub(self, argument: Any) -> str:
        text, local = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        scope = {**self.values, **{k: self.resolve(v) for k, v in local.items()}}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in scope:
                return str(scope[name])
            return str(self.resolve({"Ref": name}))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def main(argv: list[str]) -> int:
    if not argv or any("=" not in arg for arg in argv[1:]):
        usage = "usage: python -m tests.integration.transformed_template OUT.json [Parameter=Default ...]"
        print(usage, file=sys.stderr)
        return 2
    out = Path(argv[0])
    defaults = dict(arg.split("=", 1) for arg in argv[1:])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(transformed(defaults=defaults), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
