from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0006_application_pkce_optional'),
    ]

    operations = [
        migrations.AddField(
            model_name='application',
            name='is_resource_server',
            field=models.BooleanField(default=False, help_text="An API that accepts Latch's tokens from other apps: it may introspect any application's tokens and learns their member and scopes. Other applications learn only about their own.", verbose_name='resource server'),
        ),
    ]
