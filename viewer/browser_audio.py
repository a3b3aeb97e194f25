"""Speech in the page: an <audio> element that tells the server where it is, and commands back.

viser has no audio widget and runs no <script> in its HTML blocks, but inline event handlers
do run. So:
- browser -> server: the <audio> element's handlers write "time playing stamp" into a viser text
  field (its row hidden) when it starts playing, pauses, seeks, loops round or ends, and every
  REPORT_MS while playing (against drift); the server hears it as an ordinary GUI update and
  runs the playhead on from it. Reports share the panel's input path with the user's clicks:
  viser sends every input through one throttled sender that keeps only the latest message, and
  in a busy page frequent reports were seen to swallow clicks (2 in 12 at four reports a second,
  none in 12 at one per 5 s). So reports are few, and each waits until the user has been still
  for QUIET_MS;
- server -> browser: a second HTML block holds an <img> that fails to load; its onerror runs a
  command on the <audio> element (seek, speed, loop, play or pause). New content, new command.
"""

from __future__ import annotations

import html
import json

QUIET_MS = 200
REPORT_MS = 5000

# Registered once per page: when the user last touched anything (trusted events only, so the
# reports' own synthetic input events don't count).
_GUARD = (
    "if(!window._l2tGuard){window._l2tGuard=1;window._l2tInput=0;"
    "['pointerdown','pointerup','click','keydown','keyup','input','change'].forEach(function(t){"
    "document.addEventListener(t,function(e){if(e.isTrusted)window._l2tInput=Date.now();},true);});}"
)
# Finds the clock field's row by its label (unique per tab) and hides it.
_FIND_ROW = (
    "var l=Array.prototype.find.call(document.querySelectorAll('label'),function(x){{return x.textContent==={label}}});"
    "var row=l&&(l.closest('.mantine-Flex-root')||l.parentElement.parentElement.parentElement);"
    "if(row)row.style.display='none';"
)
# Body of report(a): defer while the user is busy, else write the clock into the field.
_REPORT = (
    "var wait=(window._l2tInput||0)+" + str(QUIET_MS) + "-Date.now();"
    "if(wait>0){clearTimeout(a._l2tLater);a._l2tLater=setTimeout(function(){r(a);},wait);return;}"
    "if(!row)return;var i=row.querySelector('input');if(!i)return;"
    "var s=Object.getOwnPropertyDescriptor(HTMLInputElement.prototype,'value').set;"
    "s.call(i,a.currentTime.toFixed(3)+' '+(a.paused||a.ended?0:1)+' '+Date.now());"
    "i.dispatchEvent(new Event('input',{bubbles:true}));"
)


def _find_row(clock_label: str) -> str:
    return _FIND_ROW.format(label=json.dumps(clock_label).replace('"', "'"))


def audio_html(element_id: str, clock_label: str, data_uri: str) -> str:
    """An <audio> element (with the browser's own controls, for volume) reporting its clock
    through the text field labelled `clock_label`."""
    report = "function r(a){" + _find_row(clock_label) + _REPORT + "}"
    on_playing = (
        f"var a=this,r={report};r(a);clearInterval(a._l2t);"
        f"a._l2t=setInterval(function(){{if(!document.body.contains(a)){{clearInterval(a._l2t);return;}}r(a);}},{REPORT_MS});"
    )
    on_stop = f"var a=this;clearInterval(a._l2t);({report})(a);"
    on_seeked = f"({report})(this);"  # a seek (also the loop wrapping round): report, keep the timer
    hide = _GUARD + _find_row(clock_label)
    return (
        f'<audio id="{element_id}" controls preload="auto" style="width:100%;height:2.2em" src="{data_uri}" '
        f'onplaying="{html.escape(on_playing)}" onpause="{html.escape(on_stop)}" '
        f'onseeked="{html.escape(on_seeked)}" onended="{html.escape(on_stop)}" onloadedmetadata="{html.escape(hide)}"></audio>'
        f'<img alt="" src="data:," style="display:none" onerror="{html.escape(hide)}">'
    )


def command_html(
    element_id: str, nonce: int, seek: float | None = None, speed: float | None = None, loop: bool | None = None, play: bool | None = None
) -> str:
    """An invisible block that, once in the page, applies a command to the <audio> element."""
    steps = []
    if seek is not None:
        steps.append(f"a.currentTime={json.dumps(round(float(seek), 3))};")
    if speed is not None:
        steps.append(f"a.playbackRate={json.dumps(float(speed))};")
    if loop is not None:
        steps.append(f"a.loop={'true' if loop else 'false'};")
    if play is True:
        steps.append("var p=a.play();if(p)p.catch(function(){a.dispatchEvent(new Event('pause'));});")
    elif play is False:
        steps.append("a.pause();")
    script = f"var a=document.getElementById('{element_id}');if(a){{{''.join(steps)}}}this.remove();"
    return f'<img alt="" data-n="{nonce}" src="data:," style="display:none" onerror="{html.escape(script)}">'


def parse_report(value: str) -> tuple[float, bool, float] | None:
    """(audio time, playing, browser clock in seconds) from a clock field value, or None."""
    parts = value.split()
    if len(parts) != 3:
        return None
    try:
        return max(0.0, float(parts[0])), parts[1] == "1", float(parts[2]) / 1000.0
    except ValueError:
        return None
