"""Admin calls against a moto server for Cachet's AWS KMS tests (boto3, installed with moto).

Usage: MOTO_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. \
       python moto_admin.py COMMAND [options]

Commands (each prints one JSON object on stdout):
  create-key [--alias alias/NAME]          -> {"key_arn", "key_id"}
  create-alias --alias alias/NAME --key K  -> {}
  disable-key --key K / enable-key --key K -> {}
  setup-revocation                         -> {"admin", "node", "node_policy_arn", "key_arn", "alias"}
      Run first against a server started with INITIAL_NO_AUTH_ACTION_COUNT=4: the first four
      requests (admin user, allow-all policy, attach, access key) are unauthenticated; every
      later one is signed with the admin's keys.
  detach --user U --policy ARN / attach --user U --policy ARN -> {}
"""

import argparse
import json
import os

import boto3

ENDPOINT = os.environ["MOTO_ENDPOINT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

NODE_ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
]


def client(service, key_id=None, secret=None):
    kwargs = {"endpoint_url": ENDPOINT, "region_name": REGION}
    if key_id is not None:
        kwargs.update(aws_access_key_id=key_id, aws_secret_access_key=secret)
    return boto3.client(service, **kwargs)


def policy(actions):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
    )


def create_key(kms, alias=None):
    meta = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return {"key_arn": meta["Arn"], "key_id": meta["KeyId"]}


def create_signing_key(kms):
    meta = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return {"key_arn": meta["Arn"], "key_id": meta["KeyId"]}


def user_with_policy(iam, name, actions):
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=policy(actions))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user = {"name": name, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    return user, arn


def setup_revocation():
    # The four unauthenticated requests.
    admin, _ = user_with_policy(client("iam"), "admin", ["*"])
    iam = client("iam", admin["access_key_id"], admin["secret_access_key"])
    kms = client("kms", admin["access_key_id"], admin["secret_access_key"])
    node, node_policy_arn = user_with_policy(iam, "node", NODE_ACTIONS)
    alias = "alias/cachet-node"
    key = create_key(kms, alias)
    return {
        "admin": admin,
        "node": node,
        "node_policy_arn": node_policy_arn,
        "key_arn": key["key_arn"],
        "alias": alias,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--alias")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--policy")
    args = parser.parse_args()

    if args.command == "setup-revocation":
        out = setup_revocation()
    elif args.command == "create-key":
        out = create_key(client("kms"), args.alias)
    elif args.command == "create-signing-key":
        out = create_signing_key(client("kms"))
    elif args.command == "create-alias":
        client("kms").create_alias(AliasName=args.alias, TargetKeyId=args.key)
        out = {}
    elif args.command == "disable-key":
        client("kms").disable_key(KeyId=args.key)
        out = {}
    elif args.command == "enable-key":
        client("kms").enable_key(KeyId=args.key)
        out = {}
    elif args.command == "detach":
        client("iam").detach_user_policy(UserName=args.user, PolicyArn=args.policy)
        out = {}
    elif args.command == "attach":
        client("iam").attach_user_policy(UserName=args.user, PolicyArn=args.policy)
        out = {}
    else:
        raise SystemExit(f"unknown command {args.command}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
