# Unit batch agents (单位批量经办人) tied to their unit, so a batch import is only for the own unit (R-ISSUE-2).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='UnitAgent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('unit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='agents', to='accounts.unit', verbose_name='unit')),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='unit_agent', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'unit batch agent',
                'verbose_name_plural': 'unit batch agents',
                'ordering': ['unit', 'user'],
            },
        ),
    ]
