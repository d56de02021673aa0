"""The ground floor: plain facts that every layer above reads and none restates. The stack's contract with its users
(contract), what AWS accepts (limits) and what the provider updates in place (update_rules); what botocore says
(instance types, regions), cached per botocore version (botocore_cache). Imports nothing of ours.
"""
