// The dashboard's entry: loads what the API says first (/info, /pools, /history, recent scale events), then lives on
// one event stream (GET /events): ticks update the pool cards and charts, replica frames the workers table, scale
// events mark the charts. Views are chosen by the URL hash: #/, #/workers, #/jobs, #/jobs/<id>, #/tune/<pool>.
import { $, api, askToken, session, stream, toast } from './lib.js';
import { initOverview, loadHistory, markScale, onTick } from './overview.js';
import { onReplicaChange, onReplicas } from './workers.js';
import { initJobs, leaveJob, loadTaskHistory, loadJobs, openJob } from './jobs.js';
import { initTune, leaveTune, openTune } from './tune.js';
import { initSchedules } from './schedules.js';

const VIEWS = ['overview', 'workers', 'jobs', 'job', 'tune'];
let jobsLoaded = false;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const job = /^\/jobs\/(.+)$/.exec(hash);
  const tune = /^\/tune\/(.+)$/.exec(hash);
  const view = job ? 'job' : tune ? 'tune' : hash === '/workers' ? 'workers' : hash === '/jobs' ? 'jobs' : 'overview';
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('nav a')) {
    const current = a.dataset.nav === view || (view === 'job' && a.dataset.nav === 'jobs') || (view === 'tune' && a.dataset.nav === 'overview');
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (view !== 'job') leaveJob();
  if (view === 'job') void openJob(decodeURIComponent(job[1]));
  if (view !== 'tune') leaveTune();
  if (view === 'tune') void openTune(decodeURIComponent(tune[1]));
  if (view === 'jobs' && !jobsLoaded) { jobsLoaded = true; void loadJobs(true); void loadTaskHistory(); }
}

function setConn(state, err) {
  const el = $('#conn');
  el.className = `conn ${state}`;
  el.textContent = state === 'live' ? 'live' : `reconnecting${err ? ` (${err.message})` : ''}`;
}

async function boot() {
  $('#token-btn').addEventListener('click', () => void askToken('An API token lets this tab change state (and read, if reads are protected).'));
  try {
    session.info = await api('GET', '/info');
    if (session.info.auth.reads === 'token' && !session.token) await askToken('This API needs a token even to read.');
    const [{ pools }, history, { events }] = await Promise.all([api('GET', '/pools'), api('GET', '/history'), api('GET', '/events/scaling?limit=200')]);
    initOverview(pools);
    initJobs(pools);
    initTune();
    initSchedules();
    loadHistory(history, events);
    $('#summary').textContent = `${pools.length} pools · writes ${session.info.auth.writes === 'token' ? 'need a token' : 'open'}`;
  } catch (err) {
    toast(`Cannot reach the API: ${err.message}`, 'error');
    setConn('down', err);
    return;
  }
  window.addEventListener('hashchange', route);
  route();
  let first = true;
  void stream('/events', {
    onState: setConn,
    onFrame(event, data) {
      if (event === 'tick') {
        onTick(data);
        if (first) {
          first = false;
          // The overview is drawn: what the browser test reads as its render time.
          performance.mark('trireme:overview-rendered');
          document.body.dataset.ready = 'true';
        }
      } else if (event === 'replicas') onReplicas(data);
      else if (event === 'replica') onReplicaChange(data);
      else if (event === 'scale') markScale(data);
    },
  });
}

void boot();
