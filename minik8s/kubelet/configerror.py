"""The error of a pod spec the kubelet cannot turn into a container (a missing ConfigMap key,
an unknown volume …): the pod worker reports it as `CreateContainerConfigError`."""


class ConfigError(Exception):
    """The container cannot be configured; the message says why."""


class MountError(Exception):
    """A volume cannot be set up (a Secret or ConfigMap that does not exist, a key it lacks):
    the containers wait in ContainerCreating with a FailedMount Event, as in Kubernetes."""
