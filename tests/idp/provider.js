// A real OpenID provider (the `oidc-provider` package) for the api's authentication tests.
//
//   node provider.js <config.json>
//
// It issues JWT access tokens through the client_credentials grant with resource indicators,
// carrying Zitadel-style project role claims: for each project a client holds roles in,
// `urn:zitadel:iam:org:project:<id>:roles` = {"<role>": {"<org id>": "<org domain>"}}, and the
// plain `urn:zitadel:iam:org:project:roles` with the roles of the client's own project, as
// Zitadel does. Its signing key can be rotated: `POST /admin/rotate` (loopback only, like the
// whole server) replaces the provider with one that signs with a fresh key and no longer
// serves the old one. The config file:
//
//   { "port": 4000, "issuer": "http://127.0.0.1:4000", "jwks_max_age_secs": 300,
//     "resources": { "<resource indicator>": { "audience": "<aud>" } },
//     "clients": [ { "client_id": "...", "client_secret": "...", "project": "<its project id>",
//                    "org": { "id": "...", "domain": "..." },
//                    "grants": { "<project id>": ["<role>", ...] } } ] }

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const clientsById = new Map(config.clients.map((client) => [client.client_id, client]));

function freshKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomUUID(), alg: 'ES256', use: 'sig' };
}

// Zitadel's shape: the requesting client's own project under the plain claim, every project
// it holds roles in under that project's claim.
function roleClaims(client) {
  const claims = {};
  const org = client.org ?? { id: 'org-1', domain: 'example.test' };
  for (const [project, roles] of Object.entries(client.grants ?? {})) {
    const claim = Object.fromEntries(roles.map((role) => [role, { [org.id]: org.domain }]));
    claims[`urn:zitadel:iam:org:project:${project}:roles`] = claim;
    if (project === client.project) {
      claims['urn:zitadel:iam:org:project:roles'] = claim;
    }
  }
  return claims;
}

function buildProvider(key) {
  const provider = new Provider(config.issuer, {
    clients: config.clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [key] },
    ttl: { ClientCredentials: 600 },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          const resource = config.resources[resourceIndicator];
          if (!resource) {
            throw new Provider.errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: 'api',
            audience: resource.audience,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    extraTokenClaims: (ctx, token) => {
      const client = clientsById.get(token.clientId);
      return client ? roleClaims(client) : undefined;
    },
  });
  // What a real issuer sends, so that the verifier's cap on it is what the tests see.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks') {
      ctx.set('cache-control', `public, max-age=${config.jwks_max_age_secs ?? 300}`);
    }
  });
  return provider;
}

let key = freshKey();
let handler = buildProvider(key).callback();

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/admin/rotate') {
    key = freshKey();
    handler = buildProvider(key).callback();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: key.kid }));
    return;
  }
  if (req.method === 'GET' && req.url === '/admin/key') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: key.kid }));
    return;
  }
  handler(req, res);
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer} (signing key ${key.kid})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
