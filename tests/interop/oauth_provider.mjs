// A real OAuth 2.1 authorization server for the tests: node-oidc-provider (OpenID Certified), issuing RS256 JWT
// access tokens (RFC 9068) for the resource each client names (RFC 8707 resource indicators).
//
//   node oauth_provider.mjs PORT NODE_MODULES [LINK_CALLBACK]
//
// It listens on 127.0.0.1:PORT as issuer http://127.0.0.1:PORT, with a new signing key at each start (so a restart
// is a key rotation), and prints "listening" once it does. It has dynamic registration, the built-in login and
// consent pages (any login name is an account, and is its subject), client_credentials for two static clients, and
// introspection for a third (oas-mcp itself). Client "opaque-pipeline" gets opaque access tokens instead of JWTs.
// With LINK_CALLBACK (oas-mcp's `{origin}/link/callback`), a confidential client "oas-mcp-link" signs people in on
// oas-mcp's link page: authorization code with PKCE, redirected to that URL alone.
// POST /test/clock?offset=SECONDS moves the provider's clock, so it can issue tokens already expired.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, modules, linkCallback] = process.argv.slice(2);
const { default: Provider } = await import(pathToFileURL(path.join(modules, 'oidc-provider', 'lib', 'index.js')).href);

let offset = 0;
const realNow = Date.now;
Date.now = () => realNow() + offset * 1000;

const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'pipeline', client_secret: 'pipeline-secret-0123456789', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    { client_id: 'opaque-pipeline', client_secret: 'opaque-secret-0123456789', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    { client_id: 'oas-mcp', client_secret: 'introspection-secret-0123456789', grant_types: [], redirect_uris: [], response_types: [] },
    ...(linkCallback ? [{
      client_id: 'oas-mcp-link',
      client_secret: 'link-secret-0123456789',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [linkCallback],
    }] : []),
  ],
  jwks: { keys: [key] },
  scopes: ['openid', 'offline_access', 'oas'],
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf ?? undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'oas',
        audience: resource,
        accessTokenFormat: client.clientId === 'opaque-pipeline' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => true },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/clock') {
    offset = Number(ctx.query.offset ?? 0);
    ctx.status = 204;
    return;
  }
  await next();
});

provider.listen(Number(port), '127.0.0.1', () => console.log(`listening at ${issuer}`));
