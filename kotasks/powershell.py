"""``kotasks completion powershell``: a completer for PowerShell, made from the parser.

shtab (bash, zsh, fish) has no PowerShell; ko's cobra does. The script registers a native
argument completer that offers the verbs, then the chosen verb's flags, each with its help
as the tooltip: ``kotasks completion powershell | Out-String | Invoke-Expression``.
"""

from __future__ import annotations

import argparse

_SCRIPT = """# %(command)s completion for PowerShell
#   %(command)s completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName '%(command)s' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $verbs = @{
%(verbs)s
    }
    $flags = @{
%(flags)s
    }
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 |
        ForEach-Object { $_.ToString() } | Where-Object { $_ -ne $wordToComplete })
    $verb = $words | Where-Object { $_ -notlike '-*' } | Select-Object -First 1
    if ($verb -and $flags.ContainsKey($verb)) {
        $candidates = $flags[$verb]
        $kind = 'ParameterName'
    } else {
        $candidates = $verbs
        $kind = 'ParameterValue'
    }
    $candidates.Keys | Where-Object { $_ -like "$wordToComplete*" } | Sort-Object |
        ForEach-Object {
            [System.Management.Automation.CompletionResult]::new($_, $_, $kind,
                $candidates[$_])
        }
}
"""


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _entry(name: str, help_text: str | None, indent: str) -> str:
    return f"{indent}{_quoted(name)} = {_quoted(help_text or name)}"


def powershell_script(parser: argparse.ArgumentParser) -> str:
    """The PowerShell completer of ``parser``'s verbs and their flags, for the command
    ``parser.prog``."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest.split(" ")[0]: c.help for c in subparsers._choices_actions}
    named = {id(sub): helps.get(verb) for verb, sub in subparsers.choices.items()
             if verb in helps}  # an alias ("publish") has its verb's help
    verbs, flags = [], []
    for verb, sub in subparsers.choices.items():
        verbs.append(_entry(verb, named.get(id(sub)), " " * 8))
        options = [_entry(option, action.help, " " * 12) for action in sub._actions
                   for option in action.option_strings if option.startswith("--")]
        flags.append(f"        {_quoted(verb)} = @{{\n" + "\n".join(options) + "\n        }")
    return _SCRIPT % {"command": parser.prog, "verbs": "\n".join(verbs),
                      "flags": "\n".join(flags)}
