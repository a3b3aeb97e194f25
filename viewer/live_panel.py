"""The "Live" folder: the page's microphone and the player of pushed speech.

Like ``viewer.browser_audio``, the page-side code runs from inline handlers of HTML blocks
(viser runs no <script>). Audio goes over the viewer's own port, on websockets beside viser's:
- "Live mic": ``getUserMedia`` -> an AudioContext -> 16-bit PCM chunks of about 10 ms to
  ``/l2t/mic?tab=ID&rate=R``; errors (no microphone, permission refused, a page that is not
  https or localhost) come back through a hidden text field and show as a notification.
  "Stop mic" releases the microphone twice over: a block in the page stops it, and the server
  closes its socket, whose close handler stops it too;
- the player: every tab opens ``/l2t/play?tab=ID`` and plays pushed speech as it arrives, each
  utterance ``PLAY_DELAY`` seconds after its first chunk, which is when the server shows its face.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from viewer.browser_audio import _find_row

PLAY_DELAY = 0.25  # seconds: the live model's look-ahead (72 ms), inference and network jitter
MIC_CHUNK = 512  # samples per chunk the page sends (10.7 ms at 48 kHz)
MIC_OFF = "Microphone off. Pushed speech (`view --listen`) plays here as it arrives."

_SOCKET = "(location.protocol==='https:'?'wss://':'ws://')+location.host+'/l2t/'"
# Body of report(text): write a status line into the hidden field found by _find_row.
_REPORT = (
    "function(t){if(!row)return;var i=row.querySelector('input');if(!i)return;"
    "var s=Object.getOwnPropertyDescriptor(HTMLInputElement.prototype,'value').set;"
    "s.call(i,t+' '+Date.now());i.dispatchEvent(new Event('input',{bubbles:true}));}"
)


def _block(script: str, nonce: int) -> str:
    return f'<img alt="" data-n="{nonce}" src="data:," style="display:none" onerror="{html.escape(script)}">'


def mic_start_html(tab: int, status_label: str, nonce: int) -> str:
    """Starts the microphone and streams it to the server (once per page; a second start is a no-op)."""
    script = (
        _find_row(status_label) + f"var report={_REPORT};this.remove();"
        "if(window._l2tMic)return;window._l2tMic={};"
        "if(!navigator.mediaDevices||!navigator.mediaDevices.getUserMedia){"
        "report('error the browser offers no microphone here (the page must be https or localhost)');window._l2tMic=null;return;}"
        "navigator.mediaDevices.getUserMedia({audio:{channelCount:1,echoCancellation:true,noiseSuppression:true}}).then(function(st){"
        "var m=window._l2tMic;if(!m){st.getTracks().forEach(function(t){t.stop();});return;}"
        "var ctx=new (window.AudioContext||window.webkitAudioContext)();ctx.resume();"
        "var src=ctx.createMediaStreamSource(st);"
        f"var p=ctx.createScriptProcessor({MIC_CHUNK},1,1);"
        f"var ws=new WebSocket({_SOCKET}+'mic?tab={tab}&rate='+ctx.sampleRate);ws.binaryType='arraybuffer';"
        "m.st=st;m.ctx=ctx;m.p=p;m.ws=ws;m.sent=0;"
        "ws.onopen=function(){report('on '+ctx.sampleRate);};"
        "ws.onclose=function(e){if(window._l2tMic!==m)return;window._l2tMic=null;try{p.disconnect();"
        "st.getTracks().forEach(function(t){t.stop();});ctx.close();}catch(x){}"
        "if(e.code!==1000)report('error the server closed the microphone stream '+(e.reason||e.code));};"
        "p.onaudioprocess=function(e){if(ws.readyState!==1)return;var x=e.inputBuffer.getChannelData(0);"
        "var b=new Int16Array(x.length);for(var i=0;i<x.length;i++){var v=x[i];b[i]=v<-1?-32768:v>1?32767:v*32767;}"
        "ws.send(b.buffer);m.sent+=x.length;};"
        "src.connect(p);p.connect(ctx.destination);"
        "}).catch(function(err){window._l2tMic=null;report('error '+(err&&err.name==='NotAllowedError'?"
        "'the browser refused the microphone':(err&&err.message)||err));});"
    )
    return _block(script, nonce)


def mic_stop_html(nonce: int) -> str:
    """Stops the page's microphone and closes its stream."""
    script = (
        "this.remove();var m=window._l2tMic;window._l2tMic=null;if(!m)return;"
        "try{if(m.p)m.p.disconnect();if(m.st)m.st.getTracks().forEach(function(t){t.stop();});"
        "if(m.ws)m.ws.close();if(m.ctx)m.ctx.close();}catch(e){}"
    )
    return _block(script, nonce)


def player_html(tab: int, status_label: str) -> str:
    """Plays pushed speech: messages are 1 byte (1: an utterance starts) + 16 kHz int16 PCM.
    Also hides the mic's status field (it must be rendered for the page to write into it)."""
    script = (
        _find_row(status_label) + "this.remove();if(window._l2tPlayer)return;var pl=window._l2tPlayer={next:0,played:0,chunks:0};"
        "var resume=function(){if(pl.ctx)pl.ctx.resume();};"
        "['pointerdown','keydown'].forEach(function(t){document.addEventListener(t,resume,true);});"
        "var open=function(){"
        f"var ws=new WebSocket({_SOCKET}+'play?tab={tab}');ws.binaryType='arraybuffer';pl.ws=ws;"
        "ws.onmessage=function(e){"
        "if(!pl.ctx){pl.ctx=new (window.AudioContext||window.webkitAudioContext)();pl.ctx.resume();}"
        "var d=new DataView(e.data),n=(e.data.byteLength-1)>>1;if(n<=0)return;"
        "var buf=pl.ctx.createBuffer(1,n,16000),ch=buf.getChannelData(0);"
        "for(var i=0;i<n;i++)ch[i]=d.getInt16(1+2*i,true)/32768;"
        "var s=pl.ctx.createBufferSource();s.buffer=buf;s.connect(pl.ctx.destination);"
        f"var now=pl.ctx.currentTime;if(d.getUint8(0)===1||pl.next<now)pl.next=now+{PLAY_DELAY};"
        "s.start(pl.next);pl.next+=n/16000;pl.played+=n;pl.chunks+=1;};"
        "ws.onclose=function(){if(window._l2tPlayer===pl)setTimeout(open,2000);};};open();"
    )
    return _block(script, 0)


class LivePanel:
    """The Live folder of one tab: the mic button, its status, and the page-side blocks."""

    def __init__(self, gui, tab: int, lookahead_ms: float, listen_url: str | None, on_mic: Callable[[bool, str], None]):
        self.tab, self.on_mic = tab, on_mic
        self.status_label = f"mic status {tab}"
        self.nonce = 0
        self.mic_on = False
        self.folder = gui.add_folder("Live")
        with self.folder:
            self.mic_button = gui.add_button("Live mic", hint="animate the avatar from your microphone as you speak")
            self.mic_button.on_click(lambda _: self.toggle())
            self.status = gui.add_markdown(MIC_OFF)
            pushed = f"  \npush speech to `{listen_url}`" if listen_url else ""
            self.model_note = gui.add_markdown(f"live model look-ahead: {lookahead_ms:.0f} ms{pushed}")
            self.blocks = gui.add_html(player_html(tab, self.status_label))
            self.mic_status = gui.add_text(self.status_label, "")
            self.mic_status.on_update(self._status_report)

    def toggle(self) -> None:
        self.nonce += 1
        if self.mic_on:
            self.mic_on = False
            self.mic_button.label = "Live mic"
            self.blocks.content = player_html(self.tab, self.status_label) + mic_stop_html(self.nonce)
            self.status.content = MIC_OFF
            self.on_mic(False, "")
        else:
            self.mic_on = True
            self.mic_button.label = "Stop mic"
            self.blocks.content = player_html(self.tab, self.status_label) + mic_start_html(self.tab, self.status_label, self.nonce)
            self.status.content = "Starting the microphone… (the browser may ask to allow it)"

    def _status_report(self, event) -> None:
        if event.client is None:
            return
        text = self.mic_status.value.rsplit(" ", 1)[0]
        if text.startswith("error ") and self.mic_on:
            self.toggle()
            self.on_mic(False, text[len("error ") :])
        elif text.startswith("on "):
            self.status.content = f"Microphone on ({text[3:]} Hz): speak."
            self.on_mic(True, "")

    def show_latency(self, latency: dict | None, silent: bool) -> None:
        if not self.mic_on:
            return
        state = "listening" if silent else "speaking"
        figures = f", delay p50 {latency['p50']:.0f} ms / p95 {latency['p95']:.0f} ms" if latency else ""
        self.status.content = f"Microphone on: {state}{figures}"
