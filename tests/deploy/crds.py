"""Structural checks of the custom resources, which the Kubernetes schemas do not cover.

Written by hand from the KEDA, CloudNativePG, Prometheus Operator and cert-manager references: the
apiVersion and kind, the required fields, the types of the fields we use, and the spec
keys each resource accepts (so a misspelt field fails here, not in the cluster).
"""

from __future__ import annotations

from typing import Any

import jsonschema

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
}
_QUANTITY = {"type": ["string", "integer"]}

SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "additionalProperties": False,
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": {"type": "integer", "minimum": 0},
                        "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"]},
                    },
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}},
                        },
                        "scalingModifiers": {
                            "type": "object",
                            "required": ["formula", "target"],
                            "additionalProperties": False,
                            "properties": {
                                "formula": {"type": "string"},
                                "target": {"type": "string"},
                                "activationTarget": {"type": "string"},
                                "metricType": {"enum": ["AverageValue", "Value"]},
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metadata": _STRING_MAP,
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                        },
                    },
                },
            },
        },
    },
}

# The nats-jetstream trigger's metadata (KEDA scaler reference).
NATS_JETSTREAM_METADATA = {
    "type": "object",
    "required": ["natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"],
    "additionalProperties": False,
    "properties": {
        "natsServerMonitoringEndpoint": {"type": "string", "pattern": r"^[a-z0-9.-]+:\d+$"},
        "account": {"type": "string"},
        "stream": {"type": "string"},
        "consumer": {"type": "string"},
        "lagThreshold": {"type": "string", "pattern": r"^\d+$"},
        "activationLagThreshold": {"type": "string", "pattern": r"^\d+$"},
        "useHttps": {"enum": ["true", "false"]},
    },
}

_CNPG_SPEC_KEYS = [
    "description", "inheritedMetadata", "imageName", "imageCatalogRef", "imagePullPolicy", "schedulerName",
    "postgresUID", "postgresGID", "instances", "minSyncReplicas", "maxSyncReplicas", "postgresql",
    "replicationSlots", "bootstrap", "replica", "superuserSecret", "enableSuperuserAccess", "certificates",
    "imagePullSecrets", "storage", "serviceAccountTemplate", "walStorage", "ephemeralVolumeSource",
    "startDelay", "stopDelay", "smartShutdownTimeout", "switchoverDelay", "failoverDelay",
    "livenessProbeTimeout", "affinity", "topologySpreadConstraints", "resources", "ephemeralVolumesSizeLimit",
    "priorityClassName", "primaryUpdateStrategy", "primaryUpdateMethod", "backup", "nodeMaintenanceWindow",
    "monitoring", "externalClusters", "logLevel", "projectedVolumeTemplate", "env", "envFrom", "managed",
    "seccompProfile", "tablespaces", "enablePDB", "plugins", "probes",
]

CNPG_CLUSTER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "postgresql.cnpg.io/v1"},
        "kind": {"const": "Cluster"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["instances", "storage"],
            "propertyNames": {"enum": _CNPG_SPEC_KEYS},
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": {"type": "string"},
                "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                "storage": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {"size": _QUANTITY, "storageClass": {"type": "string"}},
                    "additionalProperties": False,
                },
                "bootstrap": {
                    "type": "object",
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "properties": {"database": {"type": "string"}, "owner": {"type": "string"}},
                        }
                    },
                },
                "resources": {"type": "object", "propertyNames": {"enum": ["requests", "limits", "claims"]}},
                "affinity": {
                    "type": "object",
                    "properties": {
                        "enablePodAntiAffinity": {"type": "boolean"},
                        "topologyKey": {"type": "string"},
                        "podAntiAffinityType": {"enum": ["preferred", "required"]},
                    },
                },
                "monitoring": {"type": "object", "properties": {"enablePodMonitor": {"type": "boolean"}}},
                "postgresql": {
                    "type": "object",
                    "properties": {"parameters": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
            },
        },
    },
}

POD_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {"type": "object"},
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                        },
                    },
                },
            },
        },
    },
}

_ISSUER_REF = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string"}, "kind": {"enum": ["Issuer", "ClusterIssuer"]}, "group": {"type": "string"}},
}
_DURATION = {"type": "string", "pattern": r"^(\d+h)?(\d+m)?(\d+s)?$"}

CERT_MANAGER_ISSUER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"enum": ["Issuer", "ClusterIssuer"]},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,  # exactly one kind of issuer
            "additionalProperties": False,
            "properties": {
                "selfSigned": {"type": "object"},
                "ca": {"type": "object", "required": ["secretName"], "properties": {"secretName": {"type": "string"}}},
                "acme": {"type": "object"},
                "vault": {"type": "object"},
            },
        },
    },
}

CERT_MANAGER_CERTIFICATE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["secretName", "issuerRef"],
            "additionalProperties": False,
            "properties": {
                "secretName": {"type": "string"},
                "issuerRef": _ISSUER_REF,
                "isCA": {"type": "boolean"},
                "commonName": {"type": "string", "maxLength": 64},
                "dnsNames": {"type": "array", "items": {"type": "string"}},
                "duration": _DURATION,
                "renewBefore": _DURATION,
                "usages": {"type": "array", "items": {"enum": [
                    "digital signature", "key encipherment", "server auth", "client auth", "cert sign",
                ]}},
                "privateKey": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                    },
                },
            },
        },
    },
}

SCHEMAS = {
    ("cert-manager.io/v1", "Issuer"): CERT_MANAGER_ISSUER,
    ("cert-manager.io/v1", "Certificate"): CERT_MANAGER_CERTIFICATE,
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
}


def validate_custom_resource(manifest: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (or KeyError for an unknown kind) if it is malformed."""
    schema = SCHEMAS[(manifest["apiVersion"], manifest["kind"])]
    jsonschema.validate(manifest, schema)
    if manifest["kind"] == "ScaledObject":
        _check_scaled_object(manifest["spec"])


def _check_scaled_object(spec: dict[str, Any]) -> None:
    triggers = spec["triggers"]
    for trigger in triggers:
        if trigger["type"] == "nats-jetstream":
            jsonschema.validate(trigger["metadata"], NATS_JETSTREAM_METADATA)
    names = [t["name"] for t in triggers if "name" in t]
    if len(names) != len(set(names)):
        raise jsonschema.ValidationError("trigger names must be unique")
    modifiers = spec.get("advanced", {}).get("scalingModifiers")
    if modifiers:
        if len(names) != len(triggers):
            raise jsonschema.ValidationError("scalingModifiers need every trigger to have a name")
        terms = {term.strip() for term in modifiers["formula"].split("+")}
        if terms != set(names):
            raise jsonschema.ValidationError(f"formula must sum every trigger: {modifiers['formula']!r}")
    if "minReplicaCount" in spec and "maxReplicaCount" in spec and spec["minReplicaCount"] > spec["maxReplicaCount"]:
        raise jsonschema.ValidationError("minReplicaCount exceeds maxReplicaCount")
