"""condorpy's submit-description templates, read lazily."""


def get_template(template_name):
    """Return a copy of condorpy template ``template_name`` (``base`` when ``None`` or
    unknown, as Tethys).

    :raises ImportError: if condorpy is not installed.
    """
    try:
        from condorpy import Templates
    except ImportError as exc:
        raise ImportError(
            "condorpy is needed for condorpy templates: pip install 'tethys-compute[condor]'"
        ) from exc
    template = getattr(Templates, template_name, None) if isinstance(template_name, str) else None
    if not isinstance(template, dict):
        template = Templates.base
    return dict(template)
