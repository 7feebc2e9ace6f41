"""The operator's commands: ``mirror-audit`` (``command``) and ``mirror-cleanup`` (``cleanup``).

They use the domain package (``traffic_mirroring``, the Lambda layer) and are never imported by it nor shipped in the
layer. Their modules, each importing only those listed before it:

- ``table``: text that fits the terminal (wrapped prose, tables that never cut an ID);
- ``aws``: the commands' AWS clients, the guard that keeps the audit's read-only, who the caller is;
- ``settings``: the stack's settings from flags, ``--stack-json`` and the environment;
- ``failures``: one line for every failure;
- ``account``: one account's audit and its report;
- ``delivery``: ``--delivery``, per pool target, copies sent and received;
- ``organization``: ``--accounts`` / ``--organization``, the audit in every account-region, one report;
- ``text``: the terminal layout of both reports;
- ``flags``: mirror-audit's command line;
- ``command``: mirror-audit (``main``, exit codes); ``cleanup``: mirror-cleanup.

tests/unit/test_package_layers.py holds them (and the domain's modules) to that order.
"""
