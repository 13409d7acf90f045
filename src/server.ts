/** `trireme-jobs/server`: the HTTP API, metrics and dashboard on a loaded project, inside one's own process. */
export { createApi, type Api, type ApiOptions } from './api/server.js';
