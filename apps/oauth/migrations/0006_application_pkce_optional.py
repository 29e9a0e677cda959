from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0005_sign_in_auth_time'),
    ]

    operations = [
        migrations.AddField(
            model_name='application',
            name='pkce_optional',
            field=models.BooleanField(default=False, help_text="Only for an old confidential app that cannot send PKCE (S256). Its authorization codes are then protected by the client secret alone: a code stolen from a redirect or injected into a member's browser can be redeemed by whoever holds the secret (RFC 9700 §4.5). Leave off unless the app truly cannot be updated.", verbose_name='PKCE optional'),
        ),
    ]
