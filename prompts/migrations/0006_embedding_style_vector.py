"""The style part's vector beside each prompt vector, for "Explore this style".

Nullable, so adding it is a catalogue change on both databases (no table rewrite, SQLite keeps
the triggers of 0004), rows from before it are found and filled by the embedding backfill, and
bulk loads that do not know the column (bench/search.py's COPY) still insert.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0005_prompt_search_vector"),
    ]

    operations = [
        migrations.AddField(
            model_name="promptembedding",
            name="style_vector",
            field=models.BinaryField(blank=True, null=True),
        ),
    ]
