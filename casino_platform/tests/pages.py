"""Admin pages posted back as a browser has them."""

from typing import Any


def form_as_shown(response: Any) -> dict[str, str]:
    """What a browser would post back unchanged from an admin page: a change page's form and
    every inline formset, or a list's editable rows (`cl.formset`), each field's hidden copy
    of what the page showed included."""
    data: dict[str, str] = {}

    def put(field: Any, key: str, value: Any) -> None:
        widgets = getattr(field.widget, "widgets", None)
        if widgets:  # split date/time: one input per sub-widget
            parts = field.widget.decompress(value) if value else [None] * len(widgets)
            for i, part in enumerate(parts):
                data[f"{key}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, list | tuple):  # a multiple choice: each value posted
            data[key] = [str(v) for v in value]  # type: ignore[assignment]
        else:
            data[key] = "" if value is None else str(value)

    def add(form: Any) -> None:
        for name, field in form.fields.items():
            put(field, form.add_prefix(name), form[name].value())
            if field.show_hidden_initial:  # what the page showed, posted back beside it
                put(field, form.add_initial_prefix(name), form[name].initial)

    context = response.context
    if "adminform" in context:
        add(context["adminform"].form)
        for inline in context["inline_admin_formsets"]:
            add(inline.formset.management_form)
            for form in inline.formset.forms:
                add(form)
    else:
        formset = context["cl"].formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data
