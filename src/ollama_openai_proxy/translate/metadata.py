"""Ollama metadata formats: RFC 3339 dates, parameter sizes as Ollama writes them ("1.7B")."""

from __future__ import annotations

from datetime import UTC, datetime

FOREVER = "9999-12-31T23:59:59Z"


def rfc3339(unix: float) -> str:
    """A Unix time as RFC 3339; times no date can hold (a backend's odd ``created``) are clamped."""
    try:
        return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return FOREVER if unix > 0 else "1970-01-01T00:00:00Z"


def parameter_size(count: int | None) -> str:
    if not count:
        return ""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= div:
            return f"{count / div:.1f}{unit}".replace(".0", "")
    return str(count)


def template_for(capabilities: list[str]) -> str:
    """A Go template in the style of Ollama's own (ChatML), consistent with the advertised capabilities:
    ``.Tools`` when tools are, ``.Suffix`` when insert is, ``.Thinking`` when thinking is; always
    ``.System``, ``.Messages`` and ``.Prompt``. The backend applies its real template; clients that
    read this one (to decide tool support, say) see what the model can do."""
    caps = set(capabilities)
    tools = "tools" in caps
    think = "thinking" in caps
    parts = ["{{- if .Messages }}\n"]
    parts.append(
        "{{- if or .System .Tools }}<|im_start|>system\n"
        if tools
        else "{{- if .System }}<|im_start|>system\n"
    )
    parts.append("{{- if .System }}\n{{ .System }}\n{{- end }}\n")
    if tools:
        parts.append(
            "{{- if .Tools }}\n\n# Tools\n\nYou may call one or more functions. Function signatures:\n"
            "<tools>\n{{- range .Tools }}\n{{ . }}\n{{- end }}\n</tools>\n\n"
            'Answer a call as <tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>\n'
            "{{- end }}"
        )
    parts.append("<|im_end|>\n{{ end }}\n")
    parts.append("{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n")
    parts.append('{{- if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n')
    parts.append('{{ else if eq .Role "assistant" }}<|im_start|>assistant\n')
    if think:
        parts.append("{{- if .Thinking }}<think>{{ .Thinking }}</think>\n{{ end }}")
    parts.append("{{ if .Content }}{{ .Content }}{{ end }}")
    if tools:
        parts.append(
            "{{- if .ToolCalls }}\n{{- range .ToolCalls }}\n"
            '<tool_call>{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}</tool_call>'
            "\n{{- end }}{{ end }}"
        )
        parts.append('{{ if not $last }}<|im_end|>\n{{ end }}\n{{- else if eq .Role "tool" }}')
        parts.append("<|im_start|>user\n<tool_response>\n{{ .Content }}\n</tool_response><|im_end|>\n")
    else:
        parts.append("{{ if not $last }}<|im_end|>\n{{ end }}\n")
    parts.append(
        '{{ end }}\n{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant\n{{ end }}\n{{- end }}\n'
    )
    parts.append("{{- else }}\n")
    if "insert" in caps:
        parts.append(
            "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n{{- else }}"
        )
    parts.append("{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}")
    parts.append(
        "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    )
    parts.append("{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}")
    if "insert" in caps:
        parts.append("\n{{- end }}")
    parts.append("\n{{- end }}")
    return "".join(parts)
