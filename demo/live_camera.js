// The exhibition's streaming cameras (gr.Image webcams with the class "wtcs-camera"), run from the Live tab's
// headline (demo/live.py). Gradio's streaming webcam needs two clicks ("Click to Access Webcam", then "Record") and
// keeps sending frames from a hidden tab; here:
//   - its buttons read "Start camera" / "Stop camera", and one click starts the stream;
//   - a stream pauses while its tab or the browser tab is hidden (no frames are sent and the camera track is off,
//     so the server's CPU goes to the tab on screen) and resumes when it is shown again;
//   - window.wtcsLive.start() shows the Live camera running from other code (after teaching, see demo/live.py).
(() => {
  if (window.wtcsLive) return;
  const START = "Start camera";
  const STOP = "Stop camera";
  const ACCESS = '[title="grant webcam access"] button';
  const state = new WeakMap(); // camera block -> {want, asked, paused}

  const cameras = () => Array.from(document.querySelectorAll(".wtcs-camera"));
  const info = (cam) => {
    if (!state.has(cam)) state.set(cam, { want: false, asked: false, paused: false });
    return state.get(cam);
  };
  const streamButton = (cam) => cam.querySelector(".button-wrap button.capture-button, .button-wrap button[aria-label='capture photo']");
  // Gradio shows a square ("stop recording") while it streams and a spinner while it waits for the server.
  const streaming = (button) => !!button && !!button.querySelector('[title="stop recording"], [title="spinner"]');
  const shown = (cam) => document.visibilityState !== "hidden" && cam.getClientRects().length > 0;

  function setText(holder, text) {
    if (!holder) return;
    for (const node of holder.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.nodeValue.trim()) {
        if (node.nodeValue.trim() !== text) node.nodeValue = " " + text;
        return;
      }
    }
  }

  function relabel(cam) {
    const access = cam.querySelector(ACCESS);
    if (access) setText(access.querySelector(".wrap") || access, START);
    const icon = cam.querySelector('.button-wrap [title="start recording"], .button-wrap [title="stop recording"]');
    if (icon) setText(icon.parentElement, icon.title === "start recording" ? START : STOP);
  }

  function setTracks(cam, on) {
    const video = cam.querySelector("video");
    if (video && video.srcObject) video.srcObject.getVideoTracks().forEach((track) => { track.enabled = on; });
  }

  function step(cam) {
    const s = info(cam);
    relabel(cam);
    const button = streamButton(cam);
    if (!shown(cam)) {
      if (streaming(button)) {
        button.click(); // Gradio closes the stream: the server gets no more frames
        setTracks(cam, false);
        s.paused = true;
      }
      return;
    }
    if (s.paused) {
      setTracks(cam, true);
      s.paused = false;
      s.want = true;
    }
    if (!s.want) return;
    if (streaming(button)) {
      s.want = false;
    } else if (button) {
      button.click();
      s.want = false;
    } else if (!s.asked) {
      const access = cam.querySelector(ACCESS);
      if (access) {
        s.asked = true;
        access.click();
      }
    }
  }

  const tick = () => cameras().forEach(step);
  const observed = new WeakSet();
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      const cam = r.target.closest && r.target.closest(".wtcs-camera");
      if (cam) relabel(cam);
    }
  });

  // A visitor's click on "Start camera" grants the webcam; the stream then starts without a second click.
  document.addEventListener("click", (event) => {
    const cam = event.target.closest && event.target.closest(".wtcs-camera");
    if (cam && event.isTrusted && event.target.closest(ACCESS)) Object.assign(info(cam), { want: true, asked: true });
  }, true);
  document.addEventListener("visibilitychange", tick);
  window.setInterval(() => {
    for (const cam of cameras()) {
      if (!observed.has(cam)) {
        observed.add(cam);
        observer.observe(cam, { childList: true, subtree: true, characterData: true });
      }
    }
    tick();
  }, 250);

  window.wtcsLive = {
    start() {
      const cam = document.getElementById("live-camera");
      if (cam) Object.assign(info(cam), { want: true, asked: false });
    },
  };
})();
