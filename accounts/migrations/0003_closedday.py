# The closed business days of the daily close (R-DAY-1); see accounts/daybook.py.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_ledger_integrity'),
    ]

    operations = [
        migrations.CreateModel(
            name='ClosedDay',
            fields=[
                ('day', models.DateField(primary_key=True, serialize=False, verbose_name='business day')),
                ('closed_at', models.DateTimeField(auto_now_add=True, verbose_name='closed at')),
            ],
            options={
                'verbose_name': 'closed day',
                'verbose_name_plural': 'closed days',
                'ordering': ['-day'],
            },
        ),
    ]
