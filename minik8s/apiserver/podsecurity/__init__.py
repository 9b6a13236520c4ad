"""Pod Security Admission: the Pod Security Standards enforced per namespace.

levels.py     levels, policy versions, a namespace's policy from its labels
checks.py     the baseline and restricted checks, versioned, with upstream's messages
admission.py  the plugin: enforce / audit / warn on pods, warnings on pod templates,
              namespace label validation, the apiserver's --allow-privileged
config.py     defaults and exemptions from --admission-control-config-file
"""
