"""``<json list field>__has_element=<value>``: the list holds that string, on SQLite and PostgreSQL.

Django's ``JSONField`` ``__contains`` is not available on SQLite, and the API filters
(``modality``, ``capability``) need one query that works on both databases.
"""

from django.db.models import JSONField, Lookup


@JSONField.register_lookup
class HasElement(Lookup):
    lookup_name = "has_element"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [str(value)])

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @> jsonb_build_array({rhs}::text)", [*lhs_params, *rhs_params]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        # lhs is a compiled column reference and rhs a placeholder: no user text is spliced in.
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = {rhs})"  # noqa: S608
        return sql, [*lhs_params, *rhs_params]
