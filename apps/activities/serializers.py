from rest_framework import serializers

from apps.activities.models import Activity, Participant
from apps.api.serializers import ModelSerializer


def participant_status_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Participant.Status.choices,
        read_only=True,
        help_text="`enrolled`: has a place; `waiting`: on the waiting list.",
    )


class ActivitySerializer(ModelSerializer):
    """A published activity, with how many places are left. Never who takes part, never notes."""

    places_left = serializers.SerializerMethodField(help_text="Free places; null when unlimited.")
    waiting_list_length = serializers.IntegerField(source="waiting_count", read_only=True)
    registration_open = serializers.SerializerMethodField(help_text="Whether a member can enrol now.")

    class Meta:
        model = Activity
        fields: tuple[str, ...] = (
            "id",
            "name",
            "description",
            "location",
            "starts_at",
            "ends_at",
            "price_cents",
            "participant_limit",
            "places_left",
            "waiting_list_length",
            "registration_opens_at",
            "registration_closes_at",
            "registration_open",
        )
        read_only_fields = fields
        extra_kwargs = {
            "participant_limit": {"help_text": "Places in total; null when unlimited."},
            "registration_opens_at": {"help_text": "When enrolling opens; null: open already."},
            "registration_closes_at": {
                "help_text": "When enrolling (and leaving) closes; null: when the activity starts."
            },
        }

    def get_places_left(self, activity: Activity) -> int | None:
        if activity.participant_limit is None:
            return None
        return max(activity.participant_limit - activity.enrolled_count, 0)  # type: ignore[attr-defined]

    def get_registration_open(self, activity: Activity) -> bool:
        return activity.registration_open


class ActivityParticipantSerializer(ModelSerializer):
    """An enrolled participant as others see them: a name, nothing more."""

    first_name = serializers.CharField(source="member.first_name", read_only=True)
    last_name = serializers.CharField(source="member.last_name", read_only=True)

    class Meta:
        model = Participant
        fields: tuple[str, ...] = ("first_name", "last_name")
        read_only_fields = fields


class EnrolmentActivitySerializer(ModelSerializer):
    class Meta:
        model = Activity
        fields: tuple[str, ...] = ("id", "name", "starts_at")
        read_only_fields = fields


class EnrolmentSerializer(ModelSerializer):
    """One of the member's own enrolments or waiting-list places."""

    activity = EnrolmentActivitySerializer(read_only=True)
    status = participant_status_field()
    position = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Place on the waiting list (1 is next); null when enrolled.",
    )

    class Meta:
        model = Participant
        fields: tuple[str, ...] = ("activity", "status", "position", "paid")
        read_only_fields = fields


class EnrolmentResultSerializer(serializers.Serializer):
    """What enrolling gave: a place, or a place on the waiting list."""

    status = participant_status_field()
    position = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Place on the waiting list (1 is next); null when enrolled.",
    )
