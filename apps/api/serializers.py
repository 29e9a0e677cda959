"""The base class of Latch's model serializers."""

import copy
from typing import Any

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, building its fields from the model once per class, not per instance.

    DRF inspects the model (field kinds, lengths, validators, choices) every time a serializer is
    instantiated: about 0.3 ms of CPU a request on the benchmark machine, most of a small response.
    What it builds depends only on the class's Meta, so it is built once and each instance gets a
    deep copy, which is what DRF itself does with declared fields.
    """

    def get_fields(self) -> dict[str, Any]:
        built = type(self).__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            type.__setattr__(type(self), "_fields_built_once", built)
        return copy.deepcopy(built)
